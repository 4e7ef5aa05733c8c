"""The helpers of tests/finals (a project with ``job.py``), for the aggregate tests."""

from __future__ import annotations

from finals.conftest import Project, calls, compare_json, files_under, project, write_job

__all__ = ["Project", "calls", "compare_json", "files_under", "project", "write_job"]
