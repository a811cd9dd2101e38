"""The one report type of the data checks: what they found, by kind.

A :class:`DataReport` collects the findings of the annotation checks
(:mod:`ssd_ext.data.annotation_checks`, through the COCO json and VOC XML
readers) and of the image checks (:mod:`ssd_ext.data.image_checks`), for the
checked datasets, :class:`CheckedCocoMetric` and
``tools/analysis/check_dataset.py`` alike:

errors
    problems that a policy (``on_bad_annotation``, ``on_bad_image``) decides
    about: each a :class:`Finding` naming the file, entry and value;
notes
    only counted (with a few examples), never an error;
unlisted
    objects of class names that are not in the config's ``classes``, per name.

It has two renderings: :meth:`DataReport.summary` (a log line or an error
message) and :meth:`DataReport.listing` (the tool's report, every kind with its
count and examples).
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

Problem = Tuple[str, str]  # (kind, detail) of one finding, before it is located

# Examples kept per note kind: enough to find the files, bounded for big sets.
MAX_NOTE_EXAMPLES = 20


class DataCheckError(ValueError):
    """Bad data found; the message names the file and the problems."""


@dataclass(frozen=True)
class Finding:
    """One problem: its ``kind``, ``where`` it is (file, entry) and a ``detail``
    (the offending value)."""
    kind: str
    where: str
    detail: str = ''

    def located(self) -> str:
        """``WHERE: DETAIL``, for listings grouped by kind."""
        return self.where + (f': {self.detail}' if self.detail else '')

    def __str__(self) -> str:
        return f'{self.where}: {self.kind}' + (f' ({self.detail})' if self.detail else '')


@dataclass
class DataReport:
    """Findings about the data of ``source`` (an annotation file); ``listed``
    is the number of images the file lists."""
    source: str
    errors: List[Finding] = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)
    note_examples: Dict[str, List[str]] = field(default_factory=dict)
    unlisted: Counter = field(default_factory=Counter)  # class name -> objects
    listed: int = 0

    def error(self, kind: str, where: str, detail: str = '') -> None:
        self.errors.append(Finding(kind, where, detail))

    def note(self, kind: str, where: str = '', count: int = 1) -> None:
        self.notes[kind] += count
        if where:
            examples = self.note_examples.setdefault(kind, [])
            if len(examples) < MAX_NOTE_EXAMPLES:
                examples.append(where)

    def extend(self, other: 'DataReport') -> None:
        """Adds the findings of ``other`` (e.g. the image checks' report)."""
        self.errors += other.errors
        self.unlisted.update(other.unlisted)
        for kind, count in other.notes.items():
            self.note(kind, count=count)
            examples = self.note_examples.setdefault(kind, [])
            free = MAX_NOTE_EXAMPLES - len(examples)
            examples += other.note_examples.get(kind, [])[:free]

    def error_counts(self) -> Counter:
        return Counter(f.kind for f in self.errors)

    def summary(self, max_examples: int = 20) -> str:
        """Error counts and the first ``max_examples`` errors, then note counts."""
        lines = []
        if self.errors:
            counts = ', '.join(f'{n} {k}' for k, n in sorted(self.error_counts().items()))
            lines.append(f'{len(self.errors)} problem(s): {counts}')
            lines += [f'  {f}' for f in self.errors[:max_examples]]
            if len(self.errors) > max_examples:
                lines.append(f'  ... and {len(self.errors) - max_examples} more')
        if self.notes:
            lines.append('notes: ' + ', '.join(f'{n} {k}' for k, n in sorted(self.notes.items())))
        return '\n'.join(lines)

    def listing(self, max_examples: int) -> str:
        """Every kind of error, then of note, most frequent first, each with its
        count and up to ``max_examples`` examples."""
        examples: Dict[str, List[str]] = {}
        for finding in self.errors:
            examples.setdefault(finding.kind, []).append(finding.located())
        lines = []
        for title, counts, shown in (('ERRORS', self.error_counts(), examples),
                                     ('NOTES', self.notes, self.note_examples)):
            if not counts:
                continue
            lines.append(f'{title} ({sum(counts.values())}):')
            for kind, count in counts.most_common():
                listed = shown.get(kind, [])[:max_examples]
                lines.append(f'  {kind}: {count}')
                lines += [f'    - {where}' for where in listed]
                if count > len(listed):
                    lines.append(f'    ... and {count - len(listed)} more')
        return '\n'.join(lines)


__all__ = ['DataCheckError', 'DataReport', 'Finding', 'Problem', 'MAX_NOTE_EXAMPLES']
