"""Marks as an ELAN annotation document (.eaf, EAF 3.0), one tier per rater, for researchers.

The structure follows the EAF 3.0 schema (http://www.mpi.nl/tools/elan/EAFv3.0.xsd):
ANNOTATION_DOCUMENT holds a HEADER (time units: milliseconds), a TIME_ORDER of TIME_SLOTs,
one TIER of ALIGNABLE_ANNOTATIONs per rater, and the LINGUISTIC_TYPE the tiers name. An
annotation's value is the mark's kind and rating ("helpful 8"); no words, no identities.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from ally.ipr.marks import Mark, Rater

SCHEMA = "http://www.mpi.nl/tools/elan/EAFv3.0.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
LINGUISTIC_TYPE = "ipr-mark"


def annotation_value(mark: Mark) -> str:
    return mark.kind.value if mark.rating is None else f"{mark.kind.value} {mark.rating}"


def eaf_document(marks: Sequence[Mark], *, created: dt.datetime, media_name: str = "") -> str:
    """The marks as EAF XML text; `created` dates the document (ISO 8601, as the schema asks)."""
    ET.register_namespace("xsi", XSI)
    root = ET.Element(
        "ANNOTATION_DOCUMENT",
        {
            "AUTHOR": "",
            "DATE": created.isoformat(timespec="seconds"),
            "FORMAT": "3.0",
            "VERSION": "3.0",
            f"{{{XSI}}}noNamespaceSchemaLocation": SCHEMA,
        },
    )
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    if media_name:
        ET.SubElement(header, "MEDIA_DESCRIPTOR", {"MEDIA_URL": media_name})
    time_order = ET.SubElement(root, "TIME_ORDER")
    slots: dict[int, str] = {}
    for milliseconds in sorted({round(t * 1000) for m in marks for t in (m.start, m.end)}):
        slots[milliseconds] = f"ts{len(slots) + 1}"
        ET.SubElement(
            time_order,
            "TIME_SLOT",
            {"TIME_SLOT_ID": slots[milliseconds], "TIME_VALUE": str(milliseconds)},
        )
    number = 0
    for rater in Rater:
        tier = ET.SubElement(
            root,
            "TIER",
            {
                "TIER_ID": rater.value,
                "LINGUISTIC_TYPE_REF": LINGUISTIC_TYPE,
                "PARTICIPANT": rater.value,
            },
        )
        for mark in sorted((m for m in marks if m.rater == rater), key=lambda m: (m.start, m.end)):
            number += 1
            annotation = ET.SubElement(tier, "ANNOTATION")
            alignable = ET.SubElement(
                annotation,
                "ALIGNABLE_ANNOTATION",
                {
                    "ANNOTATION_ID": f"a{number}",
                    "TIME_SLOT_REF1": slots[round(mark.start * 1000)],
                    "TIME_SLOT_REF2": slots[round(mark.end * 1000)],
                },
            )
            ET.SubElement(alignable, "ANNOTATION_VALUE").text = annotation_value(mark)
    ET.SubElement(
        root,
        "LINGUISTIC_TYPE",
        {
            "LINGUISTIC_TYPE_ID": LINGUISTIC_TYPE,
            "TIME_ALIGNABLE": "true",
            "GRAPHIC_REFERENCES": "false",
        },
    )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
