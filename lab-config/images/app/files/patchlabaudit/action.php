<?php
/**
 * patchlab edit audit: every page save is recorded in an SQLite database (data/meta/
 * patchlab-audit.sqlite) before the page is written, and an edit that cannot be recorded is
 * not saved -- the way compliance plugins of production wikis work. It makes saving a page
 * depend on PHP's pdo_sqlite module, while showing pages does not.
 */
class action_plugin_patchlabaudit extends DokuWiki_Action_Plugin
{
    public function register(Doku_Event_Handler $controller)
    {
        $controller->register_hook('COMMON_WIKIPAGE_SAVE', 'BEFORE', $this, 'record');
    }

    public function record(Doku_Event $event, $param)
    {
        global $conf, $INPUT;
        $db = new PDO('sqlite:' . $conf['metadir'] . '/patchlab-audit.sqlite');
        $db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
        $db->exec('CREATE TABLE IF NOT EXISTS audit (at INTEGER, page TEXT, user TEXT, summary TEXT, bytes INTEGER)');
        $st = $db->prepare('INSERT INTO audit (at, page, user, summary, bytes) VALUES (?, ?, ?, ?, ?)');
        $st->execute([time(), $event->data['id'], $INPUT->server->str('REMOTE_USER'), $event->data['summary'], strlen($event->data['newContent'])]);
    }
}
