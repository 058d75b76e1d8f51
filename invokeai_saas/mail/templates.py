"""Messages from Jinja2 templates: `<name>.subject.j2`, `<name>.txt.j2` and `<name>.html.j2`, looked up
first in the brand's `mail/` folder (`frontend-overrides/brands/<brand>/mail/`), then here."""

from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import jinja2

DEFAULTS = Path(__file__).parent / "templates"


class Templates:
    def __init__(self, brand: dict[str, Any], brand_folder: Path | None = None, public_url: str = "") -> None:
        folders = [str(p) for p in (brand_folder / "mail" if brand_folder else None, DEFAULTS) if p and p.is_dir()]
        loader = jinja2.FileSystemLoader(folders)
        self._text = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False)
        self._html = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=True)
        self.brand = brand
        self.public_url = public_url  # links in the variables are paths: the templates put this before them

    def render(self, template: str, context: dict[str, Any], sender: str, recipient: str, message_id: str) -> EmailMessage:
        variables = {**context, "brand": self.brand, "public_url": self.public_url}
        message = EmailMessage()
        message["Subject"] = self._text.get_template(f"{template}.subject.j2").render(variables).strip()
        message["From"] = sender
        message["To"] = recipient
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id
        message.set_content(self._text.get_template(f"{template}.txt.j2").render(variables))
        message.add_alternative(self._html.get_template(f"{template}.html.j2").render(variables), subtype="html")
        return message
