"""Built-in CSI model templates (China CSI, ECSI, ACSI) and a model loader.

Blocks are bound by item-code prefix (``imag1`` … → IMAG, ``qual3`` → QUAL, …), so a survey that
uses the dictionary's item codes fits a template without any configuration.

Structural models (``target ~ predictors``):

* **ecsi** — European CSI as estimated on the plspm ``satisfaction`` data (Tenenhaus et al. 2005,
  CSDA 48; Sanchez 2013, *PLS Path Modeling with R*, ch. 2)::

      EXPE ~ IMAG; QUAL ~ EXPE; VAL ~ EXPE + QUAL; SAT ~ IMAG + EXPE + QUAL + VAL; LOY ~ IMAG + SAT

* **ccsi** (default) — China CSI (C-CSI; Tsinghua University China Business Research Center, Zhao Ping
  et al., and the China Standardization Institute's customer-satisfaction evaluation model, Ye, Tang &
  Xu 2009). Six constructs (brand image, expected quality, perceived quality, perceived value,
  satisfaction, loyalty), no complaints construct. The Chinese quality-professional syllabus describes
  the model as six constructs in 11 causal relations, satisfaction the target, image, expected quality,
  perceived quality and value its causes and loyalty its consequence; the 11 paths below match that
  description. The primary publication could not be consulted, so the list is the project's working
  definition (a ``.lavaan`` file overrides it)::

      EXPE ~ IMAG; QUAL ~ IMAG + EXPE; VAL ~ EXPE + QUAL; SAT ~ IMAG + EXPE + QUAL + VAL; LOY ~ SAT + IMAG

* **acsi** — American CSI (Fornell et al. 1996, J. Marketing 60)::

      QUAL ~ EXPE; VAL ~ EXPE + QUAL; SAT ~ EXPE + QUAL + VAL; COMP ~ SAT; LOY ~ SAT + COMP

  Complaints: the ACSI measures "customer complaints" with one item, whether the customer complained
  (``comp1``, 0/1), so COMP is bound to ``comp1`` alone. ``comp2`` (satisfaction with complaint
  handling) is asked only of complainers; putting it in the block would make listwise deletion keep
  complainers only, so the template never binds it (write a ``.lavaan`` model to use it). Without
  ``comp1`` in the data the COMP construct and its paths are left out and SAT -> LOY carries the whole
  effect.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Literal, get_args

from csi.model.dictionary import CONSTRUCT_LABELS  # noqa: F401 - re-exported: templates.CONSTRUCT_LABELS
from csi.errors import SpecError
from csi.model.syntax import ModelSpec, parse_model

TemplateName = Literal["ccsi", "ecsi", "acsi"]
TEMPLATE_NAMES: tuple[str, ...] = get_args(TemplateName)


_PREFIX = {"IMAG": "imag", "EXPE": "expe", "QUAL": "qual", "VAL": "val", "SAT": "sat", "LOY": "loy", "COMP": "comp"}

DEFAULT_ITEMS: dict[str, tuple[str, ...]] = {
    "IMAG": tuple(f"imag{i}" for i in range(1, 6)),
    "EXPE": tuple(f"expe{i}" for i in range(1, 6)),
    "QUAL": tuple(f"qual{i}" for i in range(1, 6)),
    "VAL": tuple(f"val{i}" for i in range(1, 5)),
    "SAT": tuple(f"sat{i}" for i in range(1, 5)),
    "LOY": tuple(f"loy{i}" for i in range(1, 5)),
    "COMP": ("comp1",),
}

# (from, to) in causal order; "optional" constructs may be dropped (with their paths) when the data lack them.
_STRUCTURE: dict[str, dict] = {
    "ecsi": {
        "constructs": ("IMAG", "EXPE", "QUAL", "VAL", "SAT", "LOY"),
        "paths": (("IMAG", "EXPE"), ("EXPE", "QUAL"), ("EXPE", "VAL"), ("QUAL", "VAL"), ("IMAG", "SAT"),
                  ("EXPE", "SAT"), ("QUAL", "SAT"), ("VAL", "SAT"), ("IMAG", "LOY"), ("SAT", "LOY")),
        "optional": (),
    },
    "ccsi": {
        "constructs": ("IMAG", "EXPE", "QUAL", "VAL", "SAT", "LOY"),
        "paths": (("IMAG", "EXPE"), ("IMAG", "QUAL"), ("EXPE", "QUAL"), ("EXPE", "VAL"), ("QUAL", "VAL"),
                  ("IMAG", "SAT"), ("EXPE", "SAT"), ("QUAL", "SAT"), ("VAL", "SAT"), ("SAT", "LOY"), ("IMAG", "LOY")),
        "optional": (),
    },
    "acsi": {
        "constructs": ("EXPE", "QUAL", "VAL", "SAT", "COMP", "LOY"),
        "paths": (("EXPE", "QUAL"), ("EXPE", "VAL"), ("QUAL", "VAL"), ("EXPE", "SAT"), ("QUAL", "SAT"),
                  ("VAL", "SAT"), ("SAT", "COMP"), ("SAT", "LOY"), ("COMP", "LOY")),
        # The ACSI is often fielded without complaint items; SAT -> LOY then carries the whole effect.
        "optional": ("COMP",),
    },
}


def _item_number(code: str) -> int:
    return int(re.search(r"(\d+)$", code).group(1))


def template(name: TemplateName, items: Iterable[str] | None = None) -> ModelSpec:
    """The ``name`` template as a :class:`ModelSpec`.

    ``items``: the item codes available (e.g. the data's columns; other names are ignored). Each
    construct keeps the items matching its prefix (``imag1``, ``imag2``, …, ordered by number). A
    construct with no item raises :class:`SpecError` naming it, unless the template marks it optional
    (only COMP in the ACSI). Without ``items`` the default item lists are used.
    """
    if name not in TEMPLATE_NAMES:
        raise SpecError(f"unknown model template {name!r}; choose one of {', '.join(TEMPLATE_NAMES)}")
    struct = _STRUCTURE[name]
    if items is None:
        blocks = {c: DEFAULT_ITEMS[c] for c in struct["constructs"]}
    else:
        have = [str(i) for i in items]
        blocks = {}
        for c in struct["constructs"]:
            if c == "COMP":
                blocks[c] = ("comp1",) if "comp1" in have else ()
                continue
            pat = re.compile(rf"^{_PREFIX[c]}\d+$")
            blocks[c] = tuple(sorted((i for i in have if pat.match(i)), key=_item_number))
        missing = [c for c in struct["constructs"] if not blocks[c] and c not in struct["optional"]]
        if missing:
            raise SpecError(
                f"the {name.upper()} model needs {', '.join(missing)} "
                f"({', '.join(CONSTRUCT_LABELS[c][0].lower() for c in missing)}): no item "
                f"{' or '.join(_PREFIX[c] + '1, ' + _PREFIX[c] + '2, …' for c in missing)} in the data")
        blocks = {c: b for c, b in blocks.items() if b}
    paths = [(f, t) for f, t in struct["paths"] if f in blocks and t in blocks]
    if name == "acsi" and "COMP" not in blocks:
        paths = [p for p in paths if "COMP" not in p]
    return ModelSpec.from_parts(blocks, paths, name=name)


# ---------------------------------------------------------------- RATER / SERVQUAL (Parasuraman et al. 1988)
RATER_TEMPLATE = "rater"
# dimension code -> item-code stem: expectation items <stem>exp<k>, perception items <stem>per<k>
RATER_DIMENSIONS: dict[str, str] = {"REL": "rel", "ASS": "ass", "TAN": "tan", "EMP": "emp", "RES": "res"}


def rater_template(items: Iterable[str] | None = None) -> ModelSpec:
    """The RATER / SERVQUAL model: satisfaction on the five perceived service-quality dimensions.

    ``SAT ~ REL + ASS + TAN + EMP + RES`` (reliability, assurance, tangibles, empathy, responsiveness;
    Parasuraman, Zeithaml & Berry 1988, J. Retailing 64(1)). Each dimension is measured by its perception
    items ``relper1``, ``relper2``, … (the expectation items ``relexp<k>`` enter the gap scores of
    :mod:`csi.analytics.servqual`, not the model); SAT by ``sat1``, ``sat2``, …. Without ``items`` two
    perception items per dimension and ``sat1``–``sat3`` are used. A dimension with no perception item
    in ``items`` is left out; fewer than two dimensions or no SAT item raises :class:`SpecError`.
    """
    if items is None:
        blocks = {d: (f"{s}per1", f"{s}per2") for d, s in RATER_DIMENSIONS.items()}
        blocks["SAT"] = ("sat1", "sat2", "sat3")
    else:
        have = [str(i) for i in items]
        blocks = {}
        for d, s in RATER_DIMENSIONS.items():
            pat = re.compile(rf"^{s}per\d+$")
            found = tuple(sorted((i for i in have if pat.match(i)), key=_item_number))
            if found:
                blocks[d] = found
        pat = re.compile(r"^sat\d+$")
        blocks["SAT"] = tuple(sorted((i for i in have if pat.match(i)), key=_item_number))
        dims = [d for d in RATER_DIMENSIONS if d in blocks]
        if len(dims) < 2 or not blocks["SAT"]:
            raise SpecError("the RATER model needs perception items of at least two service-quality dimensions "
                            "(relper1, assper1, tanper1, empper1, resper1, …) and satisfaction items (sat1, …)")
    paths = [(d, "SAT") for d in RATER_DIMENSIONS if d in blocks]
    return ModelSpec.from_parts(blocks, paths, name=RATER_TEMPLATE)


def load_model(model: str | Path, items: Iterable[str] | None = None) -> ModelSpec:
    """A model from a template name, a ``.lavaan`` file path, or lavaan syntax text.

    ``items`` only binds a template to the items present; a file or syntax model is returned as written
    (its indicators must all exist in the data; :func:`csi.pls.estimate_pls` names any that do not).
    """
    if isinstance(model, Path) or (isinstance(model, str) and model.strip().lower().endswith(".lavaan")
                                   and "\n" not in model.strip()):
        path = Path(model)
        if not path.is_file():
            raise SpecError(f"model file {str(path)!r} not found")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise SpecError(f"model file {str(path)!r} cannot be read: {e}") from None
        return parse_model(text, name=path.stem)
    if not isinstance(model, str):
        raise SpecError(f"a model must be a template name, a .lavaan file or syntax text, got {type(model).__name__}")
    key = model.strip().lower()
    if key in TEMPLATE_NAMES:
        return template(key, items)  # type: ignore[arg-type]
    if key == RATER_TEMPLATE:
        return rater_template(items)
    if not any(op in model for op in ("=~", "<~", "~")):
        raise SpecError(f"unknown model {model!r}: not a template ({', '.join(TEMPLATE_NAMES)}), "
                        "not a .lavaan file and not model syntax")
    return parse_model(model)
