python3 -m venv .venv
source .venv/bin/activate
python -m pip install django-realtime-hub
django-admin startproject mysite
cd mysite
python manage.py startapp live
