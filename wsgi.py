"""WSGI entry point: ``gunicorn wsgi:app``."""

from config import create_app

app = create_app()
