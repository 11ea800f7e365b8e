from celery import shared_task

from core.health import write_worker_heartbeat


@shared_task(name="core.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    write_worker_heartbeat()


@shared_task(name="core.tasks.healthcheck")
def healthcheck() -> str:
    write_worker_heartbeat()
    return "ok"
