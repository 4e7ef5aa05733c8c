"""``runyard ui``: a web dashboard over a store (Starlette, Jinja2, htmx and uPlot served from here).

``server.py`` builds the application, ``security.py`` guards it (token, CSRF, files only from inside the
home), ``pages.py`` renders HTML and ``api.py`` answers JSON; what they show comes from ``runyard.app``.
"""
