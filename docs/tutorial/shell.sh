python manage.py shell
