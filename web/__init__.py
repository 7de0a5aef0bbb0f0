"""The web application: server-rendered pages and the JSON API (``web.app.create_app``)."""
