"""What every handler of the app shares: the settings, the store, and the templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Template
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from db.store import Store
from mnistgrid.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class Web:
    settings: Settings
    store: Store
    templates: Jinja2Templates

    def macro(self, name: str) -> object:
        """A macro of templates/macros.html, to render one fragment (a table row) alone."""
        module = self.templates.get_template("macros.html").module  # type: ignore[attr-defined]
        return getattr(module, name)

    def template(self, name: str) -> Template:
        return self.templates.get_template(name)


def make_templates() -> Jinja2Templates:
    return Jinja2Templates(directory=TEMPLATES)


def web(request: Request) -> Web:
    return request.app.state.web
