daphne -p 8000 mysite.asgi:application
