"""uxlab's real processes for the tests that need them: a web process and a Celery worker on the
test database and a Redis (the machine's, or a test's own), built on the helpers the benchmarks use.

The suite shares one (the session-scoped `stack` fixture); fault and completion tests build their
own with other settings.
"""

from functools import cached_property

from uxlab.benchmarks.processes import celery_worker, web_server


class Stack:
    """A web process and (unless worker=False) a worker, started together; logs in `log_dir`.

    `worker_module` runs the worker through a wrapper instead of `celery` (tests/faulty_worker.py);
    `worker_concurrency` its pool processes (serve runs one per core).
    """

    def __init__(self, log_dir, env, worker=True, web_env=None, worker_env=None, worker_module="celery",
                 worker_concurrency=1):
        self.log_dir = log_dir
        self.worker_concurrency = worker_concurrency
        self.env = env
        self.worker_env = worker_env or {}
        self.worker_module = worker_module
        self.processes = []
        try:
            self.web = self.launch(web_server(env | (web_env or {}), self.next_log("web")))
            self.worker = self.launch(self.worker_process()) if worker else None
            for process in self.processes:
                process.wait_until_ready()
        except Exception:
            self.close()
            raise
        self.url = self.web.url

    def next_log(self, name):
        return self.log_dir / f"{name}-{len(self.processes)}.log"

    def launch(self, process):
        self.processes.append(process)
        return process.launch()

    def worker_process(self, **extra_env):
        env = self.env | self.worker_env | extra_env
        return celery_worker(env, self.next_log("worker"), module=self.worker_module,
                             concurrency=self.worker_concurrency)

    def start_worker(self, **extra_env):
        """Another worker (after `kill_worker`, say), started and ready."""
        return self.launch(self.worker_process(**extra_env)).wait_until_ready()

    @property
    def workers(self):
        return [process for process in self.processes if process.log_path.name.startswith("worker")]

    def kill_worker(self):
        """SIGKILL the worker with its pool, as a crash would."""
        self.worker.kill()

    @cached_property
    def second_url(self):
        """Another web process on the same database and Redis channel layer (as behind a load balancer)."""
        return self.launch(web_server(self.env, self.next_log("web"))).wait_until_ready().url

    def close(self):
        for process in reversed(self.processes):
            process.stop(timeout=10)

