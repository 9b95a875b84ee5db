"""The web app's own parts: users and sign-in, API security, admin pages, the virtual assistant."""
