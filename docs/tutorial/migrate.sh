python manage.py migrate
python manage.py createsuperuser --username admin --email admin@example.com
