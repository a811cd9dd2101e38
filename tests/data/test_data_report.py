"""``DataReport``: the one report of the data checks and its two renderings."""
from ssd_ext.data import DataReport
from ssd_ext.data.data_report import MAX_NOTE_EXAMPLES, Finding


def sample_report() -> DataReport:
    report = DataReport('train.json')
    report.error('zero or negative box size', 'train.json annotation id 1', 'bbox=[0, 0, 0, 1]')
    report.error('zero or negative box size', 'train.json annotation id 2')
    report.error('image file missing', 'a.jpg (image id 7 in train.json)')
    report.note('image without boxes', 'train.json image id 3 (c.jpg)')
    return report


def test_summary_counts_and_lists_errors_then_notes():
    summary = sample_report().summary(max_examples=2)
    assert summary.splitlines() == [
        '3 problem(s): 1 image file missing, 2 zero or negative box size',
        '  train.json annotation id 1: zero or negative box size (bbox=[0, 0, 0, 1])',
        '  train.json annotation id 2: zero or negative box size',
        '  ... and 1 more',
        'notes: 1 image without boxes']
    assert DataReport('x').summary() == ''


def test_listing_groups_by_kind_with_examples():
    listing = sample_report().listing(max_examples=1)
    assert listing.splitlines() == [
        'ERRORS (3):',
        '  zero or negative box size: 2',
        '    - train.json annotation id 1: bbox=[0, 0, 0, 1]',
        '    ... and 1 more',
        '  image file missing: 1',
        '    - a.jpg (image id 7 in train.json)',
        'NOTES (1):',
        '  image without boxes: 1',
        '    - train.json image id 3 (c.jpg)']


def test_extend_merges_findings_and_bounds_examples():
    report, other = sample_report(), DataReport('train.json')
    other.error('image file not decodable', 'b.jpg', 'empty file')
    other.unlisted['cake'] += 2
    for i in range(MAX_NOTE_EXAMPLES + 5):
        other.note('image without boxes', f'image {i}')
    report.extend(other)
    assert report.errors[-1] == Finding('image file not decodable', 'b.jpg', 'empty file')
    assert report.notes['image without boxes'] == MAX_NOTE_EXAMPLES + 6
    assert len(report.note_examples['image without boxes']) == MAX_NOTE_EXAMPLES
    assert report.unlisted == {'cake': 2}
