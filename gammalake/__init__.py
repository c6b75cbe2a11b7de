"""gammalake: a point-in-time history of options dealer exposure, and what people do with it.

The interfaces people touch live here: the `gammalake` command (`gammalake.cli`). Importing this
package is cheap: nothing below it is loaded until it is used.
"""

from __future__ import annotations
