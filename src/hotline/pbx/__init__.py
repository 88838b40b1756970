"""hotline.pbx"""
