"""platform_provider"""
