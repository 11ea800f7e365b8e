from django.http import JsonResponse
from django.shortcuts import render


def home(request):
    return render(request, "home.html")


def healthz(request):
    # Stub: the API-base work replaces this with database, broker and worker checks.
    return JsonResponse({"status": "ok"})
