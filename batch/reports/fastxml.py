"""The fixed parts of a workbook written by ``fastxlsx``: styles, workbook, relationships, frames.

Kept apart from the row writer so that each stays small; the XML follows what xlsxwriter writes
(element order matters to Excel: dimension, sheetViews, sheetFormatPr, cols, sheetData,
autoFilter, pageMargins, legacyDrawing).
"""
from __future__ import annotations

import zipfile
from typing import Mapping
from xml.sax.saxutils import escape as xml_escape, quoteattr

DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "application/vnd.openxmlformats-officedocument"
BUILTIN_FORMATS = {"0": 1, "0.00": 2, "#,##0.00": 4, "0.00%": 10, "@": 49}
VALIGN = {"vcenter": "center", "top": "top", "bottom": "bottom"}
FONT_TAIL = '<name val="Calibri"/><family val="2"/><scheme val="minor"/></font>'


def _argb(color: str) -> str:
    return "FF" + color.lstrip("#").upper()


class StyleTable:
    """Style names (``xlsx.STYLES``) combined into cellXfs, numbered on first use."""

    def __init__(self, styles: Mapping[str, Mapping[str, object]]) -> None:
        self.styles = styles
        self.xfs: dict[tuple[str, ...], int] = {(): 0}
        self.fonts = ['<font><sz val="11"/>' + FONT_TAIL]
        self.fills = ['<fill><patternFill patternType="none"/></fill>',
                      '<fill><patternFill patternType="gray125"/></fill>']
        self.borders = ["<border><left/><right/><top/><bottom/><diagonal/></border>"]
        self.numfmts: dict[str, int] = {}
        self.records = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>']

    def xf(self, key: tuple[str, ...]) -> int:
        found = self.xfs.get(key)
        if found is None:
            merged: dict[str, object] = {}
            for name in key:
                merged.update(self.styles[name])
            found = self.xfs[key] = len(self.records)
            self.records.append(self._record(merged))
        return found

    def _index(self, table: list[str], xml: str) -> int:
        if xml not in table:
            table.append(xml)
        return table.index(xml)

    def _record(self, p: Mapping[str, object]) -> str:
        attrs = [f'numFmtId="{self._numfmt(p.get("num_format"))}"',
                 f'fontId="{self._font(p)}"', f'fillId="{self._fill(p)}"',
                 f'borderId="{self._border(p)}"', 'xfId="0"']
        applies = [a for a, on in (("applyNumberFormat", "num_format" in p),
                                   ("applyFont", any(k in p for k in ("bold", "font_color",
                                                                      "font_size"))),
                                   ("applyFill", "bg_color" in p),
                                   ("applyBorder", "border" in p or "top" in p),
                                   ("applyAlignment", "text_wrap" in p or "valign" in p)) if on]
        align = ""
        if "text_wrap" in p or "valign" in p:
            parts = ['wrapText="1"'] if p.get("text_wrap") else []
            if p.get("valign"):
                parts.append(f'vertical="{VALIGN[str(p["valign"])]}"')
            align = f"<alignment {' '.join(parts)}/>"
        head = " ".join(attrs + [f'{a}="1"' for a in applies])
        return f"<xf {head}>{align}</xf>" if align else f"<xf {head}/>"

    def _numfmt(self, fmt: object) -> int:
        if not fmt:
            return 0
        if fmt in BUILTIN_FORMATS:
            return BUILTIN_FORMATS[str(fmt)]
        return self.numfmts.setdefault(str(fmt), 164 + len(self.numfmts))

    def _font(self, p: Mapping[str, object]) -> int:
        if not any(k in p for k in ("bold", "font_color", "font_size")):
            return 0
        bold = "<b/>" if p.get("bold") else ""
        color = f'<color rgb="{_argb(str(p["font_color"]))}"/>' if "font_color" in p else ""
        return self._index(self.fonts, f'<font>{bold}<sz val="{p.get("font_size", 11)}"/>{color}'
                                       + FONT_TAIL)

    def _fill(self, p: Mapping[str, object]) -> int:
        if "bg_color" not in p:
            return 0
        return self._index(self.fills, '<fill><patternFill patternType="solid"><fgColor rgb="'
                           f'{_argb(str(p["bg_color"]))}"/><bgColor indexed="64"/></patternFill></fill>')

    def _border(self, p: Mapping[str, object]) -> int:
        thin = '<{0} style="thin"><color auto="1"/></{0}>'
        if p.get("border"):
            sides = "".join(thin.format(s) for s in ("left", "right", "top", "bottom"))
        elif p.get("top"):
            sides = "<left/><right/>" + thin.format("top") + "<bottom/>"
        else:
            return 0
        return self._index(self.borders, f"<border>{sides}<diagonal/></border>")

    def xml(self) -> str:
        fmts = "".join(f'<numFmt numFmtId="{i}" formatCode={quoteattr(f)}/>'
                       for f, i in self.numfmts.items())
        return (DECL + f'<styleSheet xmlns="{MAIN}">'
                + (f'<numFmts count="{len(self.numfmts)}">{fmts}</numFmts>' if fmts else "")
                + f'<fonts count="{len(self.fonts)}">{"".join(self.fonts)}</fonts>'
                + f'<fills count="{len(self.fills)}">{"".join(self.fills)}</fills>'
                + f'<borders count="{len(self.borders)}">{"".join(self.borders)}</borders>'
                + '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
                + f'</cellStyleXfs><cellXfs count="{len(self.records)}">{"".join(self.records)}'
                + '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
                + '</cellStyles><dxfs count="0"/><tableStyles count="0" defaultTableStyle='
                + '"TableStyleMedium9" defaultPivotStyle="PivotStyleLight16"/></styleSheet>')


def _ref(row: int, col: int, absolute: bool = False) -> str:
    from .fastxlsx import LETTERS
    return f"${LETTERS[col]}${row + 1}" if absolute else f"{LETTERS[col]}{row + 1}"


def _sheet_name(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def write_package(z: zipfile.ZipFile, sheets: list, styles: StyleTable) -> None:
    """Content types, relationships, workbook (with the filters' defined names), styles."""
    overrides = [("/xl/workbook.xml", "spreadsheetml.sheet.main+xml"),
                 ("/xl/styles.xml", "spreadsheetml.styles+xml"),
                 ("/docProps/app.xml", "extended-properties+xml")]
    for g in sheets:
        n = g.index + 1
        overrides.append((f"/xl/worksheets/sheet{n}.xml", "spreadsheetml.worksheet+xml"))
        if g.comments:
            overrides.append((f"/xl/comments{n}.xml", "spreadsheetml.comments+xml"))
    z.writestr("[Content_Types].xml", DECL + (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Default Extension="vml" ContentType="{CT}.vmlDrawing"/>'
        + "".join(f'<Override PartName="{p}" ContentType="{CT}.{t}"/>' for p, t in overrides)
        + "</Types>"))
    z.writestr("_rels/.rels", DECL + f'<Relationships xmlns="{PKG_REL}">'
               f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
               f'<Relationship Id="rId2" Type="{REL}/extended-properties" Target="docProps/app.xml"/>'
               "</Relationships>")
    z.writestr("docProps/app.xml", DECL + '<Properties xmlns="http://schemas.openxmlformats.org/'
               'officeDocument/2006/extended-properties"><Application>Microsoft Excel'
               "</Application></Properties>")
    rels = "".join(f'<Relationship Id="rId{g.index + 1}" Type="{REL}/worksheet" '
                   f'Target="worksheets/sheet{g.index + 1}.xml"/>' for g in sheets)
    rels += f'<Relationship Id="rId{len(sheets) + 1}" Type="{REL}/styles" Target="styles.xml"/>'
    z.writestr("xl/_rels/workbook.xml.rels", DECL + f'<Relationships xmlns="{PKG_REL}">{rels}'
               "</Relationships>")
    z.writestr("xl/workbook.xml", _workbook(sheets))
    z.writestr("xl/styles.xml", styles.xml())


def _workbook(sheets: list) -> str:
    entries = "".join(f'<sheet name={quoteattr(g.name)} sheetId="{g.index + 1}" r:id="rId{g.index + 1}"/>'
                      for g in sheets)
    names = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{g.index}" hidden="1">'
        f'{xml_escape(_sheet_name(g.name))}!{_ref(g.filter[0], g.filter[1], True)}:'
        f'{_ref(g.filter[2], g.filter[3], True)}</definedName>' for g in sheets if g.filter)
    return (DECL + f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><workbookPr/>'
            '<bookViews><workbookView xWindow="240" yWindow="15" windowWidth="16095" '
            f'windowHeight="9660"/></bookViews><sheets>{entries}</sheets>'
            + (f"<definedNames>{names}</definedNames>" if names else "")
            + '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>')


def sheet_frame(g) -> tuple[str, str]:
    """The XML before and after a sheet's rows (known only once every row was written)."""
    from .fastxlsx import col_width
    last = _ref(max(g.max_row, 0), max(g.max_col, 0))
    selected = ' tabSelected="1"' if g.index == 0 else ""
    head = [DECL, f'<worksheet xmlns="{MAIN}" xmlns:r="{REL}"><dimension ref="A1:{last}"/>',
            f'<sheetViews><sheetView{selected} workbookViewId="0">{_pane(g.frozen)}</sheetView>'
            '</sheetViews><sheetFormatPr defaultRowHeight="15"/>']
    if g.col_widths:
        head.append("<cols>" + "".join(
            f'<col min="{c + 1}" max="{c + 1}" width="{col_width(w)}" customWidth="1"/>'
            for c, w in sorted(g.col_widths.items())) + "</cols>")
    head.append("<sheetData>")
    tail = ["</sheetData>"]
    if g.filter:
        tail.append(f'<autoFilter ref="{_ref(g.filter[0], g.filter[1])}:{_ref(g.filter[2], g.filter[3])}"/>')
    tail.append('<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>')
    if g.comments:
        tail.append('<legacyDrawing r:id="rId1"/>')
    tail.append("</worksheet>")
    return "".join(head), "".join(tail)


def _pane(frozen: tuple[int, int] | None) -> str:
    if not frozen or frozen == (0, 0):
        return ""
    rows, cols = frozen
    top_left = _ref(rows, cols)
    if rows and cols:
        return (f'<pane xSplit="{cols}" ySplit="{rows}" topLeftCell="{top_left}" '
                'activePane="bottomRight" state="frozen"/>'
                f'<selection pane="topRight" activeCell="{_ref(0, cols)}" sqref="{_ref(0, cols)}"/>'
                f'<selection pane="bottomLeft" activeCell="{_ref(rows, 0)}" sqref="{_ref(rows, 0)}"/>'
                '<selection pane="bottomRight"/>')
    if rows:
        return (f'<pane ySplit="{rows}" topLeftCell="{top_left}" activePane="bottomLeft" '
                'state="frozen"/><selection pane="bottomLeft"/>')
    return (f'<pane xSplit="{cols}" topLeftCell="{top_left}" activePane="topRight" '
            'state="frozen"/><selection pane="topRight"/>')


COMMENT_RUN = '<rPr><sz val="8"/><color indexed="81"/><rFont val="Tahoma"/><family val="2"/></rPr>'
AUTHOR = "省再担保"


def write_comments(z: zipfile.ZipFile, g, n: int, first_block: int) -> int:
    """comments{n}.xml, its VML shapes (Excel shows a note only with one) and the sheet's rels;
    returns the next free block of shape ids. As xlsxwriter does: a drawing claims blocks of
    1,024 shape ids from ``first_block`` on, as many as its notes need, and names them all in its
    ``o:idmap``, so no two drawings of a workbook share an id however many notes a sheet has."""
    blocks = range(first_block, first_block + len(g.comments) // 1024 + 1)
    from .fastxlsx import escape
    notes = "".join(f'<comment ref="{_ref(r, c)}" authorId="0"><text><r>{COMMENT_RUN}'
                    f'<t xml:space="preserve">{escape(text)}</t></r></text></comment>'
                    for r, c, text in g.comments)
    z.writestr(f"xl/comments{n}.xml", DECL + f'<comments xmlns="{MAIN}"><authors><author>'
               f"{AUTHOR}</author></authors><commentList>{notes}</commentList></comments>")
    with z.open(f"xl/drawings/vmlDrawing{n}.vml", "w", force_zip64=True) as out:
        out.write(_vml_head(",".join(map(str, blocks))).encode("utf-8"))
        for i, (r, c, _text) in enumerate(g.comments):
            out.write(_vml_shape(first_block * 1024 + 1 + i, r, c).encode("utf-8"))
        out.write(b"</xml>")
    z.writestr(f"xl/worksheets/_rels/sheet{n}.xml.rels", DECL + f'<Relationships xmlns="{PKG_REL}">'
               f'<Relationship Id="rId1" Type="{REL}/vmlDrawing" Target="../drawings/vmlDrawing{n}.vml"/>'
               f'<Relationship Id="rId2" Type="{REL}/comments" Target="../comments{n}.xml"/>'
               "</Relationships>")
    return blocks.stop


def _vml_head(blocks: str) -> str:
    return ('<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:'
            'office:office" xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout '
            f'v:ext="edit"><o:idmap v:ext="edit" data="{blocks}"/></o:shapelayout><v:shapetype '
            'id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,'
            'xe"><v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/>'
            '</v:shapetype>')


def _vml_shape(shape_id: int, row: int, col: int) -> str:
    return (f'<v:shape id="_x0000_s{shape_id}" type="#_x0000_t202" style="position:absolute;'
            'margin-left:115.5pt;margin-top:7.5pt;width:192pt;height:83.25pt;z-index:1;'
            'visibility:hidden" fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/>'
            '<v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
            '<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div>'
            '</v:textbox><x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
            f'<x:Anchor>{col + 1}, 15, {max(row - 1, 0)}, 10, {col + 4}, 15, {row + 4}, 4</x:Anchor>'
            f'<x:AutoFill>False</x:AutoFill><x:Row>{row}</x:Row><x:Column>{col}</x:Column>'
            "</x:ClientData></v:shape>")
