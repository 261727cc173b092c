# SPDX-License-Identifier: Apache-2.0
"""A Grafana dashboard read as Grafana reads it: its panels (those nested in rows too),
their PromQL, and its template variables filled from Prometheus the way Grafana's
Prometheus data source fills them (query_result, the variable's regex, its sort, "All" as
a regex alternation)."""
import itertools
import json
import re

# The time macros Grafana expands; one minute covers a 1 s scrape comfortably.
MACROS = {"__rate_interval": "1m", "__interval": "1m", "__range": "5m"}
REGEX_SPECIAL = set("\\^$*+?.()|{}[]")
VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def load(path):
    with open(path) as f:
        return json.load(f)


def panels(dash):
    """Every panel with its nested ones, in order."""
    def walk(items):
        for p in items:
            yield p
            yield from walk(p.get("panels", []))
    return list(walk(dash.get("panels", [])))


def exprs(panel):
    return [t["expr"] for t in panel.get("targets", []) if t.get("expr")]


def _regex_escape(value):
    # Grafana's prometheusSpecialRegexEscape, backslash doubled for a PromQL string
    return "".join("\\\\" + c if c in REGEX_SPECIAL else c for c in value)


def render(var, value):
    """<value> (a string, or a list for a multi or All selection) as Grafana interpolates
    <var> into a PromQL query."""
    if not var.get("multi") and not var.get("includeAll"):
        return value.replace("\\", "\\\\").replace("'", "\\'")
    if isinstance(value, str):
        return _regex_escape(value)
    escaped = [_regex_escape(v) for v in value]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def substitute(text, variables, filled):
    """<text> with $name / ${name} replaced by the <filled> values; unknown names kept."""
    def one(m):
        name = m.group(1) or m.group(2)
        if name in MACROS:
            return MACROS[name]
        if name in filled:
            return render(variables[name], filled[name])
        return m.group(0)
    return VAR.sub(one, text)


def _printed(labels, value):
    # query_result's text of one series, which the variable's regex reads
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
    return f"{name}{{{inner}}} {value:g} 0"


def _options(var, query, variables, filled):
    text = var.get("query")
    text = text.get("query", "") if isinstance(text, dict) else text
    if var["type"] == "custom":
        return [s.strip() for s in text.split(",") if s.strip()]
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", text, re.S)
    assert m, f"variable {var['name']}: not a query_result(): {text}"
    lines = [_printed(lab, v) for lab, v in query(substitute(m.group(1), variables, filled))]
    regex = var.get("regex") or ""
    if regex.startswith("/"):
        regex = regex[1:regex.rindex("/")]
    out = []
    for line in lines:
        hit = re.search(regex, line) if regex else None
        value = (hit.group(1) if hit and hit.groups() else None) if regex else line
        if value is not None and value not in out:
            out.append(value)
    sort = var.get("sort") or 0
    if sort in (1, 2, 5, 6):
        out.sort(key=str.lower if sort in (5, 6) else None, reverse=sort in (2, 6))
    return out


def views(dash, query, limit=8):
    """Every selection a user can make of the single-select variables (at most <limit>
    each; Grafana's default, the first option, comes first) and of a custom multi one
    (each option, then all), with the query-backed multi and All ones set to all their
    options: [(choices, filled)], and the variables by name. <query>(expr) gives
    [(labels, value)]."""
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    order = [v for v in variables.values() if v["type"] in ("query", "custom")]

    def expand(i, filled, choices):
        if i == len(order):
            yield dict(choices), dict(filled)
            return
        var = order[i]
        opts = _options(var, query, variables, filled)
        if var["type"] == "custom" and var.get("multi"):
            # qrep: Grafana's default (its current value), each other option, then all
            current = (var.get("current") or {}).get("value")
            picks = [current] if current in opts else []
            picks += [o for o in opts if o != current]
            for pick in [[o] for o in picks] + ([opts] if len(opts) > 1 else []):
                yield from expand(i + 1, {**filled, var["name"]: pick},
                                  {**choices, var["name"]: "|".join(pick)})
            return
        if var.get("multi") or var.get("includeAll"):
            yield from expand(i + 1, {**filled, var["name"]: opts}, choices)
            return
        for opt in itertools.islice(opts, limit) if opts else [""]:
            yield from expand(i + 1, {**filled, var["name"]: opt},
                              {**choices, var["name"]: opt})
    return list(expand(0, {}, {})), variables
