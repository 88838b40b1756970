"""hotline.agent_desktop"""
