"""ftgate: a staged LLM fine-tuning workflow, enforced by git.

This module stays import-free on purpose: the pre-commit hot path imports the
package, and every millisecond here is paid on every commit.
"""

__version__ = "0.3.0"
