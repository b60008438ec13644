"""The send path: SQS records in (typed by the handler), Meta's answers recorded in the ledger, retries given
back to the queue through the handler's :class:`Rescheduler`."""

from mmcore.sending.outcomes import BatchReport, Outcome, Result
from mmcore.sending.pipeline import Sender
from mmcore.sending.records import Rescheduler, SqsMessage, SqsRescheduler

__all__ = ["BatchReport", "Outcome", "Rescheduler", "Result", "Sender", "SqsMessage", "SqsRescheduler"]
