"""The web layer's routers: public pages, sign-in, the console, the KPIs."""
