"""The story stage with its store: place an article, flag, link the story it follows,
score it. The decisions are pure (`stories.place`, `stories.flag_now`, `follows.decide`,
`importance.importance`); this module asks the store what they need and hands it what
they decided, on the store's thread.
"""

from __future__ import annotations

from datetime import UTC, datetime

from . import follows, stories
from .config import Config
from .importance import importance
from .models import Article
from .relevance import Matcher
from .store import SavedArticle, Store


class StoryStage:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.identity = follows.identity_names(config.watch)
        self.matcher = Matcher.from_config(config.watch, config.topic)

    def save(self, article: Article, fingerprint: stories.Fingerprint, keys: list[str], *,
             link_url: str | None = None) -> SavedArticle:
        """Place `article` among the stored stories and store it, in one transaction; then
        settle its story's follow-up link and importance."""
        candidates = self._candidates(keys, article.published_at or article.fetched_at)
        placement = stories.place(article, fingerprint, candidates, self.config.stories)
        story = self.store.story(placement.story_id) if placement.story_id else None
        flag = stories.flag_now(article, placement, story, self.config.stories)
        subject_keys = self._subject_keys(article)
        saved = self.store.save_article(article, placement, fingerprint,
                                        keys + subject_keys, flag=flag, link_url=link_url)
        if saved.article.story_id is not None and saved.article.duplicate_of is None:
            self.settle(saved.article.story_id, subject_keys)
        return saved

    def place_again(self, article: Article) -> list[int]:
        """After a stored article was translated: fingerprint it again (English text signals
        now apply), index it anew and place it among the stories once more. When it now
        belongs with other stories, they merge with its own (the oldest id survives) and
        the evidence says so. Returns the ids of the stories merged away."""
        if article.id is None or article.story_id is None or article.duplicate_of is not None:
            return []
        fingerprint = stories.fingerprint(article)
        keys = stories.index_keys(fingerprint)
        subject_keys = self._subject_keys(article)
        seen = article.published_at or article.fetched_at
        self.store.refresh_fingerprint(article.id, fingerprint, keys + subject_keys, seen)
        candidates = [c for c in self._candidates(keys, seen) if c.article_id != article.id]
        placement = stories.place(article, fingerprint, candidates, self.config.stories)
        linked = set(placement.merge)
        if placement.duplicate_of is None and placement.story_id is not None:
            linked.add(placement.story_id)
        linked.discard(article.story_id)
        if not linked:
            return []
        keep = min(linked | {article.story_id})
        merged = sorted((linked | {article.story_id}) - {keep})
        evidence = {**article.evidence, "after_translation": {
            **placement.evidence, "merged": merged, "into": keep}}
        self.store.merge_stories(keep, merged, article_id=article.id, evidence=evidence)
        self.settle(keep, subject_keys)
        return merged

    def _candidates(self, keys: list[str], around: str) -> list[stories.Candidate]:
        return self.store.candidates(keys, around=around,
                                     window_days=self.config.stories.window_days,
                                     per_key=stories.key_weights())

    def _subject_keys(self, article: Article) -> list[str]:
        """The follow keys of a relevant article: its watched companies with the subjects
        its headline names."""
        if not article.relevant:
            return []
        return follows.follow_keys(article.entities, follows.headline_names(article),
                                   self.identity)

    def settle(self, story_id: int, subject_keys: list[str]) -> None:
        """A story that does not follow one yet may, now that it has one more article, and
        a later story may now be seen to follow it (a first pass meets the newest first);
        its importance is computed again."""
        story = self.store.story(story_id)
        if story is None:
            return
        if story.follows is None and subject_keys:
            self._link(story_id, subject_keys, story.published_at or story.first_seen)
        if subject_keys:  # the later stories decide again, with this one among the earlier
            for later in self.store.later_stories(subject_keys, story_id=story_id,
                                                  after=story.published_at or story.first_seen):
                other = self.store.story(later)
                if other is not None:
                    self._link(later, self.store.follow_keys_of(later),
                               other.published_at or other.first_seen)
        outlets, languages, original = self.store.story_reach(story_id)
        headline = f"{story.title_en}\n{original}"
        self.store.set_importance(story_id, importance(
            outlets=outlets, languages=languages, subject=bool(self.matcher.entities(headline)),
            published_at=story.published_at or story.first_seen,
            now=datetime.now(UTC)))

    def _link(self, story_id: int, keys: list[str], published: str) -> None:
        hits = self.store.follow_hits(keys, story_id=story_id, before=published)
        decided = follows.decide(story_id, hits)
        if decided is not None:
            self.store.set_follows(story_id, *decided)
