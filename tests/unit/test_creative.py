"""Creative optimizations: the seeds' examples build the exact request objects, Meta's answers normalize,
display names resolve, paused and unknown features warn, and bad input names what is wrong."""

import pytest

from mmcore.meta.creative import (
    BY_KEY,
    DEFAULT_ENROLL_STATUS,
    FEATURES,
    EnrollStatus,
    FeatureSpecError,
    FeatureState,
    InvalidEnrollStatus,
    UnknownFeatureError,
    from_graph,
    resolve_features,
    to_degrees_of_freedom_spec,
    to_request_spec,
    with_defaults,
)

# The seeds' "Configure Optimizations at Template Level" example.
SEEDS_TEMPLATE = {
    "degrees_of_freedom_spec": {
        "creative_features_spec": {
            "auto_promotion_tag": {"enroll_status": "OPT_IN"},
            "text_formatting_optimization": {"enroll_status": "OPT_OUT"},
            "product_extensions": {"enroll_status": "OPT_OUT"},
        }
    }
}
# The seeds' "Configure Optimizations for Entire WABA" example.
SEEDS_WABA = {
    "degrees_of_freedom_spec": {
        "creative_features_spec": {
            "auto_promotion_tag": {"enroll_status": "OPT_IN"},
            "text_extraction_for_headline": {"enroll_status": "OPT_IN"},
            "product_extensions": {"enroll_status": "OPT_OUT"},
        }
    }
}
# The seeds' "Get Template Optimization Settings" response.
SEEDS_GET = {
    "degrees_of_freedom_spec": {
        "creative_features_spec": [
            {"key": "AUTO_PROMOTION_TAG", "value": {"enroll_status": "OPT_IN"}},
            {"key": "TEXT_FORMATTING_OPTIMIZATION", "value": {"enroll_status": "OPT_OUT"}},
        ]
    }
}
SEEDS_DISPLAY_NAMES = [
    "Image Filtering",
    "Headline Extraction",
    "Tap Target Title",
    "Text Formatting",
    "Auto Promotion Tag",
    "Product Extensions",
    "Link Formatting",
    "Image Banner",
]
# The seeds' paused list, less Image Cropping (no request key).
SEEDS_PAUSED_WITH_KEYS = ["Text Overlay", "Image Animation", "Background Generation"]


@pytest.mark.parametrize("example", [SEEDS_TEMPLATE, SEEDS_WABA], ids=["template", "waba"])
def test_seeds_examples_round_trip_to_the_exact_request_objects(example):
    spec = example["degrees_of_freedom_spec"]["creative_features_spec"]
    user_request = {key: value["enroll_status"] for key, value in spec.items()}

    resolved = resolve_features(user_request)

    assert to_degrees_of_freedom_spec(resolved.features) == example
    assert to_request_spec(resolved.features) == example["degrees_of_freedom_spec"]
    assert list(to_request_spec(resolved.features)["creative_features_spec"]) == list(spec)  # order kept
    assert resolved.warnings == ()
    assert from_graph(example) == user_request


def test_seeds_get_response_normalizes_to_lowercase_keys():
    assert from_graph(SEEDS_GET) == {
        "auto_promotion_tag": "OPT_IN",
        "text_formatting_optimization": "OPT_OUT",
    }


def test_full_uppercase_list_from_the_reference_normalizes():
    keys = [f.key for f in FEATURES if f.confirmed and f.key != "auto_promotion_tag"]
    answer = {
        "degrees_of_freedom_spec": {
            "creative_features_spec": [
                {"key": k.upper(), "value": {"enroll_status": "opt_out"}} for k in keys
            ]
        },
        "id": "123",
    }
    assert from_graph(answer) == dict.fromkeys(keys, "OPT_OUT")


def test_unconfirmed_waba_shape_is_read_too():
    answer = {
        "degrees_of_freedom_spec": {
            "data": [
                {"creative_features_spec": [{"key": "IMAGE_TOUCHUPS", "value": {"enroll_status": "OPT_IN"}}]}
            ]
        }
    }
    assert from_graph(answer) == {"image_touchups": "OPT_IN"}


@pytest.mark.parametrize(
    "answer",
    [{}, {"degrees_of_freedom_spec": None}, {"degrees_of_freedom_spec": {"creative_features_spec": "x"}}],
)
def test_empty_or_odd_answers_read_as_nothing_set(answer):
    assert from_graph(answer) == {}


def test_items_without_a_status_are_skipped_and_new_statuses_kept():
    answer = {
        "creative_features_spec": [
            {"key": "IMAGE_ANIMATION", "value": {}},
            {"key": "IMAGE_BANNER", "value": {"enroll_status": "something_new"}},
        ]
    }
    assert from_graph(answer) == {"image_banner": "SOMETHING_NEW"}


def test_display_names_and_keys_are_case_insensitive():
    resolved = resolve_features(
        {
            "Auto Promotion Tag": "opt_in",
            "IMAGE_BRIGHTNESS_AND_CONTRAST": "Opt_Out",
            "tap target title": "OPT_IN",
            "Image touch-ups": {"enroll_status": "OPT_OUT"},
        }
    )
    assert resolved.features == {
        "auto_promotion_tag": EnrollStatus.OPT_IN,
        "image_brightness_and_contrast": EnrollStatus.OPT_OUT,
        "text_extraction_for_tap_target": EnrollStatus.OPT_IN,
        "image_touchups": EnrollStatus.OPT_OUT,
    }


def test_opting_in_to_a_paused_feature_succeeds_with_a_warning():
    resolved = resolve_features({"Image Animation": "OPT_IN", "add_text_overlay": "OPT_OUT"})
    assert resolved.features == {"image_animation": "OPT_IN", "add_text_overlay": "OPT_OUT"}
    assert len(resolved.warnings) == 1
    assert "image_animation" in resolved.warnings[0] and "paused" in resolved.warnings[0]


def test_third_party_keys_are_accepted_with_a_warning():
    resolved = resolve_features({"Link Formatting": "OPT_OUT"})
    assert resolved.features == {"hyperlink_formatting": "OPT_OUT"}
    assert "not confirmed by Meta" in resolved.warnings[0]


def test_misspelt_key_lists_valid_keys_and_suggests_the_closest():
    with pytest.raises(UnknownFeatureError) as caught:
        resolve_features({"auto_promo_tag": "OPT_IN"})
    error = caught.value
    assert error.keys == ["auto_promo_tag"]
    assert error.suggestions == {"auto_promo_tag": "auto_promotion_tag"}
    assert error.valid_keys == sorted(BY_KEY)
    assert "did you mean 'auto_promotion_tag'" in str(error)
    assert ", ".join(sorted(BY_KEY)) in str(error)
    assert isinstance(error, ValueError)


def test_misspelt_display_name_suggests_its_key():
    with pytest.raises(UnknownFeatureError) as caught:
        resolve_features({"Headline Extractoin": "OPT_IN"})
    assert caught.value.suggestions == {"Headline Extractoin": "text_extraction_for_headline"}


def test_all_unknown_keys_are_reported_together():
    with pytest.raises(UnknownFeatureError) as caught:
        resolve_features({"foo": "OPT_IN", "auto_promotion_tag": "OPT_IN", "bar": "OPT_OUT"})
    assert caught.value.keys == ["foo", "bar"]


def test_unknown_well_formed_key_passes_with_a_warning_when_allowed():
    resolved = resolve_features(
        {"NEW_META_FEATURE": "OPT_OUT", "auto_promotion_tag": "OPT_IN"}, allow_unknown=True
    )
    assert resolved.features == {"new_meta_feature": "OPT_OUT", "auto_promotion_tag": "OPT_IN"}
    assert resolved.warnings == ("'new_meta_feature' is not a known feature: sent to Meta as is",)


def test_third_party_only_keys_need_allow_unknown():
    with pytest.raises(UnknownFeatureError):
        resolve_features({"dynamic_cta_text": "OPT_IN"})
    assert resolve_features({"dynamic_cta_text": "OPT_IN"}, allow_unknown=True).features == {
        "dynamic_cta_text": "OPT_IN"
    }


@pytest.mark.parametrize("key", ["auto_promotion_tags", "prodcut_extensions", "Dynamic CTA Text", "image-x"])
def test_typos_and_malformed_keys_are_refused_even_when_unknown_keys_are_allowed(key):
    with pytest.raises(UnknownFeatureError):
        resolve_features({key: "OPT_IN"}, allow_unknown=True)


def test_image_cropping_explains_it_has_no_key():
    with pytest.raises(UnknownFeatureError, match="Image Cropping has no request key"):
        resolve_features({"Image Cropping": "OPT_OUT"}, allow_unknown=True)


@pytest.mark.parametrize("status", ["ENABLED", "", None, True, {"enroll_status": "maybe"}])
def test_bad_enroll_status_names_the_field(status):
    with pytest.raises(InvalidEnrollStatus) as caught:
        resolve_features({"product_extensions": status})
    assert caught.value.field == "product_extensions"
    assert "product_extensions" in str(caught.value) and "OPT_IN, OPT_OUT" in str(caught.value)


def test_two_spellings_of_one_feature_must_agree():
    assert resolve_features({"Auto Promotion Tag": "OPT_IN", "auto_promotion_tag": "opt_in"}).features == {
        "auto_promotion_tag": "OPT_IN"
    }
    with pytest.raises(FeatureSpecError, match="auto_promotion_tag"):
        resolve_features({"Auto Promotion Tag": "OPT_IN", "auto_promotion_tag": "OPT_OUT"})


def test_every_catalog_key_is_lowercase_and_unique():
    keys = [f.key for f in FEATURES]
    assert len(keys) == len(set(keys))
    assert all(key == key.lower() and key.isidentifier() for key in keys)
    assert len({f.display_name.lower() for f in FEATURES}) == len(FEATURES)


def test_every_seeds_display_name_is_in_the_catalog_with_its_state():
    by_name = {f.display_name: f for f in FEATURES}
    for name in SEEDS_DISPLAY_NAMES:
        assert by_name[name].state is FeatureState.ACTIVE
    for name in SEEDS_PAUSED_WITH_KEYS:
        assert by_name[name].state is FeatureState.PAUSED


def test_unset_features_default_to_opt_in_like_meta():
    assert DEFAULT_ENROLL_STATUS is EnrollStatus.OPT_IN
    effective = with_defaults({"product_extensions": EnrollStatus.OPT_OUT})
    assert effective["product_extensions"] == "OPT_OUT"
    assert effective["image_touchups"] == "OPT_IN"
    assert set(effective) == set(BY_KEY)
