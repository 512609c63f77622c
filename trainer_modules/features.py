"""Feature names and identity keyword lists shared by Transform, trainers and the gate."""

TEXT_KEY = "comment_text"
LABEL_KEY = "toxicity"

# Identity columns as annotated in the processed Civil Comments data of the
# MinDiff tutorial; each holds a list of strings such as ["muslim"].
IDENTITY_COLUMNS = ("gender", "sexual_orientation", "religion", "race", "disability")

# Keyword lists: the TFCO Wiki-toxicity tutorial's sexuality, gender identity,
# religion and race lists, filed under the Civil Comments categories, plus the
# Civil Comments subgroups of each category. Multi-word terms are matched as phrases.
IDENTITY_KEYWORDS = {
    "gender": (
        "trans",
        "transgender",
        "cis",
        "nonbinary",
        "male",
        "female",
        "woman",
        "women",
        "girl",
        "girls",
    ),
    "sexual_orientation": (
        "gay",
        "lesbian",
        "bisexual",
        "homosexual",
        "straight",
        "heterosexual",
        "queer",
    ),
    "religion": (
        "christian",
        "muslim",
        "jewish",
        "buddhist",
        "catholic",
        "protestant",
        "sikh",
        "taoist",
        "hindu",
        "atheist",
        "islam",
        "jew",
        "jews",
        "muslims",
        "christians",
    ),
    "race": (
        "african",
        "african american",
        "black",
        "white",
        "european",
        "hispanic",
        "latino",
        "latina",
        "latinx",
        "mexican",
        "canadian",
        "american",
        "asian",
        "indian",
        "middle eastern",
        "chinese",
        "japanese",
    ),
    "disability": (
        "disabled",
        "disability",
        "blind",
        "deaf",
        "autistic",
        "wheelchair",
        "mentally ill",
        "intellectual disability",
    ),
}

IDENTITY_GROUPS = tuple(IDENTITY_KEYWORDS)
assert set(IDENTITY_GROUPS) == set(IDENTITY_COLUMNS)

TOKENS_KEY = "tokens"


def identity_feature(group: str) -> str:
    """Name of the transformed 0/1 tag for an identity group."""
    return f"identity_{group}"


IDENTITY_FEATURES = tuple(identity_feature(g) for g in IDENTITY_GROUPS)
