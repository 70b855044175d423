from django.shortcuts import get_object_or_404, render

from realtime.streams.models import Stream


def index(request):
    streams = Stream.objects.filter(status=Stream.Status.LIVE)
    return render(request, "live/index.html", {"streams": streams})


def watch(request, slug):
    stream = get_object_or_404(Stream, slug=slug)
    return render(request, "live/stream.html", {"stream": stream})
