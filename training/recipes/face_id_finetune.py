"""face_id_finetune: transfer learning approach 2 on the unseen people s31-s40.

`face_id_head`'s recipe trains the new head on the frozen face_resnet first,
then unfreezes the top of the network (the last conv, its affine and the
embedding layer: `zoo.models.face_resnet.TOP_LAYERS`) and trains them with the
head at a tenth of the rate.
"""

from functools import partial

from zoo.training.recipes import face_id_head

train = partial(face_id_head.train, fine_tune=True, name="face_id_finetune")
evaluate, dataset_card = face_id_head.evaluate, face_id_head.dataset_card
EPOCHS = face_id_head.HEAD_EPOCHS + face_id_head.FINE_TUNE_EPOCHS
