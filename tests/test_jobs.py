"""Jobs by name: every name services use is a registered Celery task."""

import pytest

from reviewapp.jobs import JOB_NAMES, job_enqueue_on_commit, job_task


def test_every_job_name_is_a_registered_task():
    """A renamed task would otherwise leave services sending messages no worker takes."""
    for name in JOB_NAMES:
        assert job_task(name).name == name


def test_an_unknown_job_name_raises():
    """Unknown names fail loudly instead of going to the broker."""
    with pytest.raises(KeyError):
        job_task("reviewapp.tasks.no_such_task")


@pytest.mark.django_db
def test_enqueue_on_commit_waits_for_the_commit(django_capture_on_commit_callbacks, monkeypatch):
    """The task is queued only once the transaction commits, with its keyword arguments."""
    calls = []
    task = job_task(JOB_NAMES[0])
    monkeypatch.setattr(task, "delay", lambda **kwargs: calls.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job_enqueue_on_commit(JOB_NAMES[0], alert_id=5)
        assert calls == []
    assert len(callbacks) == 1
    assert calls == [{"alert_id": 5}]
