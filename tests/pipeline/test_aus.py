from auvid.aus import INTENSITY_AUS, OCCURRENCE_AUS, au_label, intensity_columns, normalize_au, occurrence_columns


def test_openface_sets():
    assert len(INTENSITY_AUS) == 17 and len(OCCURRENCE_AUS) == 18
    assert set(OCCURRENCE_AUS) - set(INTENSITY_AUS) == {"AU28"}
    assert list(OCCURRENCE_AUS) == sorted(OCCURRENCE_AUS)
    assert intensity_columns()[0] == "AU01_r" and occurrence_columns()[-1] == "AU45_c"


def test_names_and_normalisation():
    assert au_label("AU12") == "AU12 lip corner puller"
    assert normalize_au("au1") == "AU01" and normalize_au("AU12_r") == "AU12" and normalize_au("6") == "AU06"
    import pytest

    with pytest.raises(ValueError):
        normalize_au("smile")
