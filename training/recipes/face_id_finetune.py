"""face_id_finetune: transfer learning approach 2 on the unseen people s31-s40.

`face_id_head`'s recipe trains the new head on the frozen tower first, then
unfreezes the tower and trains every weight at a tenth of the rate.
"""

from functools import partial

from training.recipes import face_id_head

train = partial(face_id_head.train, fine_tune=True, name="face_id_finetune")
evaluate = face_id_head.evaluate
