"""What the desk offers the operator from the caller's words: suggested form values (slots), knowledge
articles, crisis words. Pure rules and their stores; floor/ delivers them to the desktops."""
