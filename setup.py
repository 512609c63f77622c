from setuptools import find_packages, setup

setup(
    name="fair-toxicity-pipeline",
    version="0.1.0",
    description="TFX pipeline for a text toxicity classifier with per-group fairness remediation",
    packages=find_packages(
        include=[
            "pipeline*",
            "components*",
            "trainer_modules*",
            "kubeflow*",
            "ingest*",
            "runners*",
            "report*",
        ]
    ),
    # The Jinja2 templates of the model card and the fairness report, and the hand-written
    # functional part of the identity challenge suite (read by ingest/challenge_suite.py).
    package_data={
        "components": ["templates/*.j2"],
        "report": ["templates/*.j2"],
        "ingest": ["functional_suite.csv"],
    },
    py_modules=["local_runner", "contract", "rates"],
    python_requires=">=3.10,<3.12",
    entry_points={"console_scripts": ["fair-toxicity=local_runner:main"]},
)
