"""The HTTP layer around Streamlit: routes of the app's own, security middleware, lifespan.
No page code here; the cores (accounts, memory, audit) do the work."""
