"""README.md's "Use it from Python" example runs as written (the test fails if it drifts from the module)."""
import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_runs(nt):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Use it from Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        namespace = {}
        exec(compile(code, str(README), "exec"), namespace)
    assert "kappa" in out.getvalue()
    assert namespace["theta"].shape == (2, 2) and namespace["r"].kappa > 0
    assert namespace["run"].losses[-1] < namespace["run"].losses[0]
