"""Container health check of the command and query services: GET /health/ready on this host.

`python deploy/healthcheck.py [PATH]`: exit 0 on 200, 1 otherwise. Uses PORT (default 8000),
the port gunicorn listens on (deploy/gunicorn.conf.py). The standard library only: the image
has no curl.
"""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "/health/ready"
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=float(os.environ.get("HEALTHCHECK_TIMEOUT", "8"))) as response:
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as error:
        print(f"{url}: {error.code} {error.read()[:500].decode(errors='replace')}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
