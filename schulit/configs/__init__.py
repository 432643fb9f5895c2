"""Configs: render Jinja2 templates per school server and push them over SSH (SPEC §5)."""

from schulit.configs.push import PushResult, format_recap, push_configs

__all__ = ["PushResult", "format_recap", "push_configs"]
