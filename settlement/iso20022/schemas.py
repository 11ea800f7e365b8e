"""The official pain.001.001.09 XSD, as the sepaxml package ships it (we use its file, not its code).

Loaded once per process with lxml; used to check every file the writer makes before it leaves.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from lxml import etree

PAIN_001_001_09 = "pain.001.001.09"


def xsd_path(message: str = PAIN_001_001_09) -> str:
    """Filesystem path of the XSD for `message` (e.g. "pain.001.001.09")."""
    return str(resources.files("sepaxml").joinpath("schemas", f"{message}.xsd"))


@lru_cache(maxsize=4)
def xml_schema(message: str = PAIN_001_001_09) -> etree.XMLSchema:
    # A local file from an installed package; still parsed without network or entities.
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(xsd_path(message), parser))
