"""The report's captions (workflow/report/*.rst) render as `snakemake --report` renders them
(Jinja with trim_blocks and lstrip_blocks, then docutils to HTML) without a docutils message."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from docutils.core import publish_parts
from jinja2 import Environment

from s1flow.config import run_plan

CAPTIONS = sorted((REPO / "workflow" / "report").glob("*.rst"))
CONFIGS = [REPO / "config" / "config.yaml", *sorted((REPO / "config" / "paper").glob("*.yaml"))]
# the link targets Snakemake appends to every caption (snakemake.report: rst_links, no categories)
RST_LINKS = "\n\n.. _Workflow: javascript:show_panel('workflow')\n.. _Statistics: javascript:show_panel('statistics')\n"


class Snakemake:
    """What a caption reads of the `snakemake` object: the config the workflow runs with."""

    def __init__(self, config: dict) -> None:
        self.config = config


def render(caption: Path, config: dict) -> str:
    """The caption's HTML body, as Snakemake's report renders it."""
    env = Environment(trim_blocks=True, lstrip_blocks=True)
    text = env.from_string(caption.read_text() + RST_LINKS).render(snakemake=Snakemake(config), categories={},
                                                                   files={})
    # docutils writes its messages into the HTML (what the report shows) and to the warning stream
    return publish_parts(text, writer="html", settings_overrides={"warning_stream": io.StringIO()})["body"]


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda p: p.name)
def config(request) -> dict:
    """A config as the workflow sees it: validated, with the schema's defaults filled."""
    return run_plan(yaml.safe_load(request.param.read_text())).config


@pytest.mark.parametrize("caption", CAPTIONS, ids=lambda p: p.name)
def test_caption_renders_without_docutils_messages(caption, config):
    html = render(caption, config)
    assert "system-message" not in html and "System Message" not in html, html[html.find("System Message") - 200:][:800]
    assert len(html) > 100


def test_a_lost_blank_line_is_caught():
    """The check sees the message docutils gives for a list that follows a paragraph without a blank line."""
    html = publish_parts("A paragraph.\n- an item\n  over two lines\n- another\n", writer="html",
                         settings_overrides={"warning_stream": io.StringIO()})["body"]
    assert "System Message" in html


def test_methods_caption_keeps_its_list_and_the_configs_settings(config):
    html = render(REPO / "workflow" / "report" / "methods.rst", config)
    assert html.count("<li>") == 3  # Control, Scaling, Performance
    assert f"temperature\n{config['evaluation']['sampling_temperature']}" in html
