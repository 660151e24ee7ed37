"""Settings for `make bench` only: the production settings plus baseline
endpoints (yangtze/urls_bench.py) that show what bare Django does with the
same rows, so the project's figures can be read as ratios."""

from yangtze.settings import *  # noqa: F403

ROOT_URLCONF = "yangtze.urls_bench"
