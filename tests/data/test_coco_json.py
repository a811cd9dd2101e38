"""Reading COCO json for the checks: malformed entries are recorded problems
naming the entry (the entry dropped), never a crash of the reader."""
import pytest

from ssd_ext.data import DataCheckError, DataReport
from ssd_ext.data import annotation_checks as ac
from ssd_ext.data.coco_json import check_coco_structure, sanitize_coco

CATEGORIES = [dict(id=1, name='cat')]


def image(**kw) -> dict:
    return dict(dict(id=1, file_name='a.jpg', width=40, height=30), **kw)


def ann(**kw) -> dict:
    return dict(dict(id=1, image_id=1, category_id=1, bbox=[1, 1, 5, 5]), **kw)


@pytest.mark.parametrize('entry, detail', [
    (image(id=[1]), 'id=[1] is not an int or a string'),
    (image(id=True), 'id=True is not an int or a string'),
    (image(file_name=None), 'file_name=None is not a file name'),
    (image(file_name=''), "file_name='' is not a file name"),
    (image(width='40'), "width='40' is not a positive number"),
    (image(height=0), 'height=0 is not a positive number'),
    ('a.jpg', 'not an object'),
])
def test_malformed_image_entry_is_recorded_and_dropped(entry, detail):
    report = DataReport('f.json')
    images, anns, _ = sanitize_coco(dict(images=[entry, image(id=2)], categories=CATEGORIES,
                                         annotations=[]), 'f.json', report)
    assert list(images) == [2] and list(anns) == [2]
    [finding] = report.errors
    assert (finding.kind, finding.detail) == (ac.MALFORMED_IMAGE, detail)


@pytest.mark.parametrize('entry, kind, detail', [
    (ann(image_id=[1]), ac.MALFORMED_ANN, 'image_id=[1] is not an int or a string'),
    (ann(category_id={'id': 1}), ac.MALFORMED_ANN,
     "category_id={'id': 1} is not an int or a string"),
    (ann(id=None), ac.MALFORMED_ANN, 'id=None is not an int or a string'),
    (ann(image_id=7), ac.UNKNOWN_IMAGE, 'image_id=7'),
    (ann(category_id=9), ac.UNKNOWN_CATEGORY, 'category_id=9'),
    (ann(id=2), ac.DUPLICATE_ANN, ''),
])
def test_malformed_annotation_entry_is_recorded_and_dropped(entry, kind, detail):
    report = DataReport('f.json')
    data = dict(images=[image()], categories=CATEGORIES,
                annotations=[ann(id=2), entry])
    _, anns, _ = sanitize_coco(data, 'f.json', report)
    assert [a['id'] for a in anns[1]] == [2]
    [finding] = report.errors
    assert (finding.kind, finding.detail) == (kind, detail)
    assert finding.where.startswith('f.json annotation id')


@pytest.mark.parametrize('categories', [[dict(id=[1], name='cat')], [dict(id=1)],
                                        [dict(id=1, name=None)]])
def test_malformed_category_names_the_file_and_entry(categories):
    with pytest.raises(DataCheckError, match=r'f\.json: category entry .* needs an "id" '
                                             r'and a "name"'):
        check_coco_structure(dict(images=[], categories=categories), 'f.json')
