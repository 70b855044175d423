python manage.py broadcast broadcast.all broadcast --data '{"title": "Hello", "message": "again"}'
python manage.py announce "Back at 22:30" --level info --ends-in 30m
