"""trust_center"""
