<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en" sourcelanguage="en">
<context>
    <name>ContextBar</name>
    <message numerus="yes">
        <source>To make room, %n oldest message(s) will be left out: %s</source>
        <translation>
            <numerusform>To make room, the oldest message will be left out: %s</numerusform>
            <numerusform>To make room, %n oldest messages will be left out: %s</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>ConversationController</name>
    <message numerus="yes">
        <source>%n reply(s) cut off by a crash were kept and marked interrupted.</source>
        <translation>
            <numerusform>%n reply cut off by a crash was kept and marked interrupted.</numerusform>
            <numerusform>%n replies cut off by a crash were kept and marked interrupted.</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>GenerationView</name>
    <message numerus="yes">
        <source>%n token(s) so far…</source>
        <translation>
            <numerusform>%n token so far…</numerusform>
            <numerusform>%n tokens so far…</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n token(s), then the reply stopped.</source>
        <translation>
            <numerusform>%n token, then the reply stopped.</numerusform>
            <numerusform>%n tokens, then the reply stopped.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n token(s)</source>
        <translation>
            <numerusform>%n token</numerusform>
            <numerusform>%n tokens</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>PromptView</name>
    <message numerus="yes">
        <source>%n token(s)</source>
        <translation>
            <numerusform>%n token</numerusform>
            <numerusform>%n tokens</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n special</source>
        <translation>
            <numerusform>%n special</numerusform>
            <numerusform>%n special</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>RetrievalView</name>
    <message numerus="yes">
        <source>The model translated it after reading the opening words of the %n best passage(s) in that language, to use the documents&apos; wording.</source>
        <translation>
            <numerusform>The model translated it after reading the opening words of the best passage in that language, to use the documents&apos; wording.</numerusform>
            <numerusform>The model translated it after reading the opening words of the %n best passages in that language, to use the documents&apos; wording.</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>ServerDialog</name>
    <message numerus="yes">
        <source>%n model(s) on this server.</source>
        <translation>
            <numerusform>%n model on this server.</numerusform>
            <numerusform>%n models on this server.</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message numerus="yes">
        <source>Default threads on this computer: %n</source>
        <translation>
            <numerusform>Default threads on this computer: %n</numerusform>
            <numerusform>Default threads on this computer: %n</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>TurnController</name>
    <message numerus="yes">
        <source>%n oldest message(s) left out to fit the context window.</source>
        <translation>
            <numerusform>The oldest message was left out to fit the context window.</numerusform>
            <numerusform>%n oldest messages left out to fit the context window.</numerusform>
        </translation>
    </message>
</context>
</TS>
