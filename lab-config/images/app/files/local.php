<?php
/*
 * patchlab app role: DokuWiki settings (the Debian package reads /etc/dokuwiki/local.php).
 */
$conf['title']          = 'patchlab wiki';
$conf['lang']           = 'en';
$conf['license']        = 'cc-by-sa';
$conf['useacl']         = 1;
$conf['authtype']       = 'authplain';
$conf['superuser']      = '@admin';
$conf['disableactions'] = 'register';
$conf['updatecheck']    = 0;   // the lab network has no way out
$conf['userewrite']     = 0;
