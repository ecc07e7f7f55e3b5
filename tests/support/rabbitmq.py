"""The machine's RabbitMQ, administered through rabbitmqctl (vhosts, queue depths)."""

import subprocess


def rabbitmqctl(*args: str, check: bool = True) -> str:
    result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr or result.stdout}")
    return result.stdout
