"""hotline.cases"""
