"""pytest fixtures for apps that use Flask-Shutdown."""
