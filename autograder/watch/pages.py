"""The pages a student fetches with ``nbgrader fetch_feedback`` before the deadline.

``show`` decides how much of the hidden suite's verdict they see: ``names`` (each check's name
and pass/fail) or ``hints`` (also what it tried, saw and the usual cause). Neither shows a test's
code. jinja2 (already there through nbgrader) escapes everything: outputs quote students' own
exception messages.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jinja2

from autograder.render import mark
from autograder.results import Result, fmt

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="autograder-submission" content="{{ key }}">
<title>{{ assignment }}: feedback before the deadline</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h2 { font-size: 1.1rem; border-bottom: 1px solid #ddd; } .note { color: #666; }
.passed { color: #1a7f37; } .failed { color: #c62828; } .skipped { color: #777; }
td { vertical-align: top; padding: 0.3rem; border-top: 1px solid #eee; } pre { white-space: pre-wrap; margin: 0; }
</style></head><body>
<h1>{{ assignment }}: feedback on your submission of {{ timestamp }}</h1>
<p class="note">Not your grade: the TA grades every final submission after the deadline, and the
written answers by hand. {{ attempts }}</p>
{% if limited %}
<p><strong>No feedback for this submission:</strong>
you have used your {{ limit }} graded attempt{{ "s" if limit != 1 }} of the past hour.
Your next attempt can be graded from <strong>{{ next_at }}</strong>; submit again after that.</p>
{% elif why %}
<p><strong>Not graded now:</strong> {{ why }}. The TA grades every final submission after the deadline.</p>
{% else %}
<p>Autograded: <strong>{{ result.score | fmt }} / {{ result.max_score | fmt }}</strong></p>
{% if result.output %}<pre>{{ result.output }}</pre>{% endif %}
{% for part in parts %}
<h2>{{ part.name }}: {{ part.score | fmt }} / {{ part.max_score | fmt }}</h2>
<table>
{% for test in part.tests %}
<tr><td class="{{ test.status }}">{{ test.status | mark }}</td>
<td>{{ test.name }}
{% if hints and test.output and test.status != "passed" %}<pre>{{ test.output }}</pre>{% endif %}</td></tr>
{% endfor %}
</table>
{% endfor %}
{% endif %}
<p class="note">Written {{ when }}.</p>
</body></html>
"""

_ENV = jinja2.Environment(autoescape=True)
_ENV.filters["fmt"] = fmt
_ENV.filters["mark"] = mark
_TEMPLATE = _ENV.from_string(PAGE)


def now_text(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def graded_page(key: str, assignment: str, timestamp: str, result: dict[str, Any], show: str,
                attempts: str, now: float) -> str:
    typed = Result.from_dict(result)
    return _TEMPLATE.render(key=key, assignment=assignment, timestamp=timestamp, result=typed,
                            parts=typed.parts().values(), hints=show == "hints", limited=False,
                            attempts=attempts, when=now_text(now))


def limited_page(key: str, assignment: str, timestamp: str, limit: int, next_at: float, now: float) -> str:
    return _TEMPLATE.render(key=key, assignment=assignment, timestamp=timestamp, limited=True, limit=limit,
                            next_at=now_text(next_at), attempts="", when=now_text(now))


def failed_page(key: str, assignment: str, timestamp: str, why: str, now: float) -> str:
    return _TEMPLATE.render(key=key, assignment=assignment, timestamp=timestamp, why=why, limited=False,
                            attempts="", when=now_text(now))
